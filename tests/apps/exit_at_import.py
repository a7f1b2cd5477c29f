"""A module that ends its process while being imported (`os._exit`), as a misbehaving import-time check does."""

import os

os._exit(1)
