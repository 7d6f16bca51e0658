"""The named presets (YAML), shipped as package data so an installed zspace finds them."""
