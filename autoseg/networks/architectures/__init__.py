"""One module per registered architecture; importing this package registers them all."""

from autoseg.networks.architectures import (  # noqa: F401  (imported for their @register side effect)
    attention_unet,
    dense_unet,
    gru_unet,
    inception_unet,
    r2unet,
    repmlp_unet,
    residual_unet,
    u2net,
    unet,
    unet_pp,
)
