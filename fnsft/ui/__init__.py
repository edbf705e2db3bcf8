"""The Gradio app: one module per tab, a shared AppState, and a background training-job registry."""
