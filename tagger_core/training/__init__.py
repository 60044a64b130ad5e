"""The training stage: labels + audio or stored embeddings → new model bundles.

Takes labelled datasets on disk (or the library's trusted labels and stored embeddings)
and hands on model bundles: a small reusable trainer (``trainer``), MLP heads and AM'23's
ResNet, their experiments and reports, the TF checkpoint reader used to convert the
pretrained taggers, and ranking metrics. May import anything in the core; nothing in
the core imports it except the ``train`` commands.
"""
