"""The browser studio, torch-free: a Gradio page over one service, with per-tab sessions."""
