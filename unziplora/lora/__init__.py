"""LoRA machinery on a stock diffusers UNet: peft adapters, the prompt-separating attention processor,
column masks/mergers with Cone selection, and diffusers-format file I/O."""
