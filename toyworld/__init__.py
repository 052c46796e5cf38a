"""The toy world: a procedural world with known content (shape) and style, its small SDXL-architecture base model
and the oracle classifiers that say what a generated image shows. May import `unziplora` and `metrics`; they never
import it."""
