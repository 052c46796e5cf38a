"""Image-alignment metrics (CLIP-I, DINO, CSD)."""
