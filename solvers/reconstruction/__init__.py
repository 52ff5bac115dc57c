"""Image reconstruction for linear inverse problems (CT, MRI).

Classical methods tuned on the validation split (``classical_reconstruction``): filtered
back-projection (``fbp``), TV-regularised least squares (``tv_reconstruction``) and the
zero-filled inverse FFT (``zero_filled``); learned unrolled methods trained on the train
split with one shared loop (``learned_reconstruction``): learned gradient descent
(``learned_gd``) and learned primal-dual (``learned_pd``).
"""
