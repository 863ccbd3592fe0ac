"""The browser side: the generator running in the page (onnxruntime-web), and `ganstudio export --web`."""
