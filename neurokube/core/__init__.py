"""The Beam-free, Keras-free core: errors, paths, EDF reading, montage, features, model
inputs, annotation formats and scoring. Nothing here imports Beam's pipeline API or Keras;
Beam's FileSystems is used by ``paths`` only.
"""
