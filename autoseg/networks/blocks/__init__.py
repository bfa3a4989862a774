"""Building blocks of the U-Net family; each block is dimension-generic through `autoseg.networks.ops.Layers`."""
