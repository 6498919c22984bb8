"""TFDS GeneratorBasedBuilders for real datasets in their on-disk layout, plus synthetic_faces."""
