"""The SegAssist server (``segassist serve``) and its torch-free client.

``wire`` (envelopes, content hash), ``sessions`` (lease, expiry, isolation, device lock), ``operations``
(segment / keyframe / propagate / fuse / interpolate / undo, returning the changed box), ``auth`` (API key),
``label_studio`` (Label Studio's ML-backend protocol), ``app`` (Starlette routes, JSON logs), ``client``
(:class:`RemoteEngine`, numpy + stdlib only). Only ``client`` and ``wire`` are imported by front ends
without the ``server`` extra installed.
"""
