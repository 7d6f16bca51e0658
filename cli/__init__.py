"""zspace.cli: the stage machinery. What a stage is (`stage.py`) and the graph of them
(`registry.py`); the `zspace` command built from their parameter models (`main.py`,
`options.py`, `console.py`); `zspace serve`, `zspace explore`; where cached results live."""
