"""sha256 of ``generate_face``'s rgb and depth over a fixed grid of faces, to check that a
refactor of ``data_pipelines/synthetic_faces.py`` leaves the output bit-identical.

Grid: identity 0..5, sample 0..2, image_size 64 and 128, domain source and target (72 faces).
Prints one line per face and a digest of all lines; ``--out FILE`` also writes the lines, and
``--compare FILE`` exits 1 naming every face whose hashes differ from FILE's.

    PYTHONPATH=. python3 tools/synthetic_face_hashes.py --out /tmp/before.txt
"""
import argparse
import hashlib
import sys

from data_pipelines import synthetic_faces as sf


def face_lines():
    for size in (64, 128):
        for domain in sf.DOMAINS:
            cfg = sf.FaceConfig(image_size=size, domain=domain)
            for identity in range(6):
                for sample in range(3):
                    ex = sf.generate_face(identity, sample, cfg)
                    rgb = hashlib.sha256(ex["rgb"].tobytes()).hexdigest()
                    depth = hashlib.sha256(ex["depth"].tobytes()).hexdigest()
                    yield f"{size} {domain} {identity} {sample} rgb={rgb} depth={depth}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the per-face lines to this file")
    ap.add_argument("--compare", help="a file written by --out; exit 1 if any face differs")
    args = ap.parse_args(argv)
    lines = list(face_lines())
    for line in lines:
        print(line)
    print("digest", hashlib.sha256("\n".join(lines).encode()).hexdigest())
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    if args.compare:
        with open(args.compare) as fh:
            ref = fh.read().splitlines()
        if len(ref) != len(lines):
            sys.exit(f"{args.compare}: {len(ref)} faces, this run has {len(lines)}")
        bad = [b for a, b in zip(ref, lines) if a != b]
        for b in bad:
            print("DIFFERS:", b)
        print(f"{len(lines) - len(bad)}/{len(lines)} faces identical to {args.compare}")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
