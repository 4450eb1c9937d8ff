"""Input-image tools: inpaint, outpaint, vary, upscale (a sampling-plan stage) and describe.

Front ends build an `EditSpec` (studio/types.py) naming input images by hash (`engine.inputs.put(image)`),
put it in `GenerationRequest.edit` and run the request as usual; `engine.edit_models.describe(image, style)`
writes a prompt for a picture.
"""

from studio.edit.stage import edit_stage, output_size, resolve_edit

__all__ = ["edit_stage", "output_size", "resolve_edit"]
