"""Running the pipeline: in process (`medidash run`), the local stack, the demo, the docs."""
