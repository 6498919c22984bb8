"""The TS-GAN recognition protocols' names (``data_pipelines.recognition_protocols``), in a
TensorFlow-free module so that the trainer's ``--help`` lists them without importing TF."""

PROTOCOLS = ("synthetic_faces", "iiitd_rgbd", "eurecom_kinectfacedb", "lfw_faces")
RGB_ONLY_PROTOCOLS = ("lfw_faces",)
IIITD_FOLDS = (1, 2, 3, 4, 5)

#: CurtinFaces subject protocols: name -> (subjects in the build, held-out subjects); the
#: paper's 47 train / 5 test (TS-GAN sec. 5.1). data_pipelines.datasets.curtinfaces uses it.
CURTIN_PROTOCOLS = {"paper_47_5": (52, 5)}
