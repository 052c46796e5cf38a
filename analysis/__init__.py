"""Tables and figures from score rows and run folders: the statistics (bootstrap CIs over images, paired
differences, metric win rates), the comparison/ablation/win-rate tables and the figures.

Imports no torch: it reads CSVs, run.json records and safetensors files. It may read the light registries
(`unziplora.methods`, `metrics.registry`) for labels; it never imports the training or scoring code.
"""
