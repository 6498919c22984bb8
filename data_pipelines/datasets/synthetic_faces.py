"""TFDS builder ``synthetic_faces``: the procedural RGB-D faces written to disk.

Nothing is downloaded: every example is ``data_pipelines.synthetic_faces.generate_face`` of
(identity, sample) with the config's image size, domain and seed, so a build is
reproducible bit for bit.

Splits (the same identities in both, disjoint sample indices, for recognition-style
gallery/probe use): 'train' holds samples [0, train_images_per_identity) of every identity,
'test' holds samples [train_images_per_identity, train + test_images_per_identity). (The
trainers' in-memory loader ``data_pipelines.sources`` instead holds out unseen identities.)

Features: ``rgb`` uint8 (S, S, 3) PNG; ``depth`` uint16 (S, S) millimetres, 0 = background or
sensor hole, zlib-compressed; ``identity`` ClassLabel over the config's identities; ``sample`` int64;
``landmarks`` float32 (68, 2) pixel (x, y), iBUG/dlib order; ``landmarks_visible`` bool (68,);
``pose`` float32 (yaw, pitch, roll) degrees. In 'target'-domain configs depth is stored for
evaluation only; target-domain training must not read it.

Keys are ``f"{identity:06d}_{sample:05d}"``: unique and deterministic.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import synthetic_faces as sf
from data_pipelines.datasets._common import ModuleCodePath


@dataclasses.dataclass(eq=False)
class SyntheticFacesConfig(tfds.core.BuilderConfig):
    """What is written: image size, identities, images per identity and split, domain, seed."""

    image_size: int = 128
    num_identities: int = 50
    train_images_per_identity: int = 32
    test_images_per_identity: int = 8
    domain: str = "source"
    seed: int = 0

    def face_config(self) -> sf.FaceConfig:
        return sf.FaceConfig(image_size=self.image_size, domain=self.domain, seed=self.seed)


class SyntheticFaces(ModuleCodePath, tfds.core.GeneratorBasedBuilder):
    """Procedural faces: paired RGB + 16-bit depth, identities, 68 landmarks, pose."""

    VERSION = tfds.core.Version("4.0.0")
    RELEASE_NOTES = {"1.0.0": "Mesh-rendered procedural faces (render.py z-buffer).",
                     "2.0.0": "Camera-like faces (issue 20): shape space, expressions, hair, "
                              "ears, neck and shoulders, textured albedo, several lights with "
                              "soft shadows, varied backgrounds, camera effects, depth-sensor "
                              "holes (hair, steep silhouettes).",
                     "3.0.0": "Faces v3 (issue 20): thicker brows, darker sclera, lid and "
                              "socket skin, occlusion on direct light, 15% monochrome "
                              "cameras; depth bit-identical to 2.0.0.",
                     "4.0.0": "Faces v4 (issue 20): 40% of source images lit from the side "
                              "(CurtinFaces' illumination variations); depth and target "
                              "images bit-identical to 3.0.0."}
    BUILDER_CONFIGS = [
        SyntheticFacesConfig(name="tiny", description="64 px, 8 identities x (3 train + 1 test)",
                             image_size=64, num_identities=8, train_images_per_identity=3,
                             test_images_per_identity=1),
        SyntheticFacesConfig(name="default",
                             description="128 px, 50 identities x (32 train + 8 test), source",
                             image_size=128, num_identities=50, train_images_per_identity=32,
                             test_images_per_identity=8),
        SyntheticFacesConfig(name="default_target",
                             description="128 px, 50 identities x (32 train + 8 test), target "
                                         "domain (depth for evaluation only)",
                             image_size=128, num_identities=50, train_images_per_identity=32,
                             test_images_per_identity=8, domain="target"),
        SyntheticFacesConfig(name="enhance256",
                             description="256 px 16-bit depth ground truth for the depth "
                                         "enhancers, 400 identities x (4 train + 1 test)",
                             image_size=256, num_identities=400, train_images_per_identity=4,
                             test_images_per_identity=1),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        s = c.image_size
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "rgb": tfds.features.Image(shape=(s, s, 3), dtype=np.uint8),
                "depth": tfds.features.Tensor(shape=(s, s), dtype=np.uint16, encoding="zlib",
                                              doc="millimetres, 0 = background or hole"),
                "identity": tfds.features.ClassLabel(num_classes=c.num_identities),
                "sample": tfds.features.Scalar(dtype=np.int64),
                "landmarks": tfds.features.Tensor(shape=(sf.NUM_LANDMARKS, 2), dtype=np.float32,
                                                  doc="pixel (x, y), iBUG/dlib 68 order"),
                "landmarks_visible": tfds.features.Tensor(shape=(sf.NUM_LANDMARKS,),
                                                          dtype=np.bool_),
                "pose": tfds.features.Tensor(shape=(3,), dtype=np.float32,
                                             doc="(yaw, pitch, roll) degrees"),
            }),
            supervised_keys=("rgb", "depth"),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        c = self.builder_config
        n_train, n_test = c.train_images_per_identity, c.test_images_per_identity
        return {"train": self._generate_examples(0, n_train),
                "test": self._generate_examples(n_train, n_train + n_test)}

    def _generate_examples(self, first_sample: int, end_sample: int):
        c = self.builder_config
        config = c.face_config()
        for identity in range(c.num_identities):
            for sample in range(first_sample, end_sample):
                ex = sf.generate_face(identity, sample, config)
                ex["identity"] = int(ex["identity"])
                ex["sample"] = np.int64(sample)
                yield f"{identity:06d}_{sample:05d}", ex
