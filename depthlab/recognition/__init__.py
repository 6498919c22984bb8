"""Face-recognition backbones, fusion heads and protocol evaluation (TS-GAN Tables 2-5)."""
