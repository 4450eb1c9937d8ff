"""Image prompts: preprocessors (PyraCanny, CPDS, face crop), the IP-Adapter and ControlNet wiring, and the
sampling stage that turns a request's `image_prompts` slots into a SamplingPlan (see stage.py)."""
