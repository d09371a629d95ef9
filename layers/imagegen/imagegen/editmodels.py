"""Which models may edit images (and make variations), and how each takes its inputs.

The edit function's models are catalog rows (imagegen.catalog, EDIT_MODELS), the first being the
default for edits and the first that can make variations the default for variations:

- Bedrock (sync): the rows of the stability-sd3 and stability-inpaint families with the task;
  the answer is 201 with the images.
- Replicate (async): each row names the model's own inputs for the image, the prompt and the mask
  (`inputs`), and which of them it requires; one job per image.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen import catalog
from imagegen.catalog import Model
from imagegen.http import ApiError
from imagegen.invoke import invalid


@dataclass(frozen=True)
class Form:
    """A Replicate model's input names for the image, the prompt and the mask (None: it has none).
    Its mask, like Stability's, is white where the image is repainted."""

    image: str = "image"
    prompt: str | None = None
    mask: str | None = None
    prompt_required: bool = False
    mask_required: bool = False

    def inputs(self) -> set[str]:
        return {name for name in (self.image, self.prompt, self.mask) if name}


def form(model: Model) -> Form:
    """How the Replicate model takes its inputs, from its catalog row."""
    inputs = model.inputs
    requires = inputs.get("requires", ())
    return Form(
        image=inputs.get("image", "image"),
        prompt=inputs.get("prompt"),
        mask=inputs.get("mask"),
        prompt_required="prompt" in requires,
        mask_required="mask" in requires,
    )


def choose(requested: object, task: str) -> Model:
    """The model for an edit or variation request, or a 400 that lists the ones allowed."""
    if requested is not None and not isinstance(requested, str):
        raise ApiError(400, "invalid_model", "model: must be a string (a model name or alias)", "model")
    if not requested:
        return default_choice(task)
    enabled = catalog.enabled("edit")
    chosen = catalog.find(requested)
    if chosen not in enabled:
        allowed = ", ".join(model.name for model in enabled)
        message = f"model {requested[:100]!r} is not enabled for edits here; use one of {allowed}"
        raise ApiError(400, "model_not_allowed", message, "model")
    if task not in chosen.tasks:
        raise invalid("model", f"{requested[:100]} cannot make {'variations' if task == 'variation' else 'edits'}")
    return chosen


def default_choice(task: str) -> Model:
    """The first enabled model that can do the task."""
    candidates = catalog.for_task("edit", task)
    if not candidates:
        raise ApiError(400, "model_not_allowed", f"no model here can make {task}s", "model")
    return candidates[0]
