"""UnZipLoRA: content and style LoRAs from a single image."""
