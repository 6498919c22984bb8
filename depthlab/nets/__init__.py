"""Paper-neutral networks, owned by no paper (DESIGN.md, ``nets/``).

Paper modules under ``depthlab.models`` build their networks from here and never import
another paper's module:

- ``resnet_gan``: ``ResnetGenerator`` (CycleGAN ResNet generator) and ``PatchDiscriminator``
  (the one PatchGAN, instance or pix2pix batch norm), used by TS-GAN, its baselines,
  CycleGAN-depth and the two-stage refiner (its ``ConditionalPatchGAN`` builds it).
- ``resnet_encoder``: the fb.resnet.torch ResNet-50 trunk (``ResNetEncoder``,
  ``resnet_encoder``), used by the two-stage paper's stage 1 (sparse-to-dense).
- ``recognition_backbones``: VGG-16, ResNet-50, SE-ResNet-50, BN-Inception face-recognition
  backbones (``build_backbone``, ``build_feature_extractor``), used by the recognition
  experiments; imported as a submodule (it is not loaded by ``import depthlab.nets``).
- ``contrastive``: the contrastive image-translation pieces DCLGAN / SimDCL / HnegSRC add to
  PatchNCE (SimDCL's similarity projectors, stacked patch embeddings, HnegSRC's gamma
  schedule); used by CycleGAN-depth's Table 1 rows; imported as a submodule.

The DBPN projection units stay in ``depthlab.layers`` (``UpProjection``, ``DownProjection``).
"""

from depthlab.nets.resnet_encoder import ResNetEncoder, resnet_encoder
from depthlab.nets.resnet_gan import PatchDiscriminator, ResnetGenerator

__all__ = ["PatchDiscriminator", "ResNetEncoder", "ResnetGenerator", "resnet_encoder"]
