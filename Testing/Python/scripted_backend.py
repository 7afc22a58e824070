"""A stand-in for a misbehaving model in the engine tests (a real one would need weights and a GPU):
prompts go to the real classical backend, ``propagate`` yields a scripted ``script(view, n) -> (mask, score)``
(the whole slice for a flooding model, the true mask with a chosen score for a fading one)."""

from __future__ import annotations

from SegAssistLib.backends.base import Backend, BackendSession, SliceResult
from SegAssistLib.backends.classical import ClassicalBackend


class ScriptedBackend(Backend):
    """Prompts go to the real classical backend; ``propagate`` yields ``script(view, n) -> (mask, score)``."""

    name = "scripted"

    def __init__(self, script):
        self.inner = ClassicalBackend()
        self.script = script

    def open_session(self, view):
        return ScriptedSession(view, self.inner.open_session(view), self.script)


class ScriptedSession(BackendSession):
    def __init__(self, view, inner, script):
        super().__init__(view)
        self.inner, self.script = inner, script

    def add_prompt(self, slice_index, prompt, object_id=1):
        return self.inner.add_prompt(slice_index, prompt, object_id)

    def propagate(self, direction="both", start=None, max_slices=None, object_ids=None, should_stop=None):
        step = -1 if direction == "backward" else 1
        n, emitted = start, 0
        while 0 <= n < self.view.n_slices and (max_slices is None or emitted < max_slices):
            mask, score = self.script(self.view, n)
            yield SliceResult(n, mask, score, (object_ids or [1])[0])
            n, emitted = n + step, emitted + 1
