"""Unpaired image-to-image translation: CycleGAN between two image domains.

domains.py   the two-domain source: a trainA/trainB/testA/testB folder, or the
             embedded handwritten digits <-> typeset digits
cyclegan.py  the model: two ResNet generators, two PatchGAN discriminators, eq. 3
train.py     its params section, the seeded training loop and the checkpoint
evaluate.py  FID/KID both ways, cycle error, content preservation, baselines
grid.py      the A -> G(A) -> F(G(A)) / B -> F(B) -> G(F(B)) image
"""
