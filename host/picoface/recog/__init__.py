"""Face recognition evaluation (issue 26): alignment input, landmarks, embedders and the LFW protocols.

- ``picoface.recog.lfw``: the LFW View-2 kit (pairs.txt parser, image paths); the only module that
  reads LFW, so nothing that trains can pick it up by accident.
- ``picoface.recog.landmarks``: YuNet box + 5 landmarks per image (face nearest the centre).
- ``picoface.recog.embedders``: ``embed(aligned_faces) -> (N, D) float32`` behind one interface.
- ``picoface.recog.protocol``: verification (10-fold accuracy, ROC, TAR at FAR).
- ``picoface.recog.openset``: open-set identification (gallery, DIR at FAR).
- ``picoface.recog.run`` / ``report``: the ``picoface recog`` commands' work and their files.
"""
