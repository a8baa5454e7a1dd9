"""The three architectures as plain nn.Modules, and the LightningModule that trains them."""
