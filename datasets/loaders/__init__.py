"""Dataset loaders, one module per dataset, each registering itself with the dataset registry."""
