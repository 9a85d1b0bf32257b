"""Wire formats. Each module registers its decoder under a name used in routes.yaml.

Every module of this package (and of its subpackages' `__init__`) is imported here, so a
new format is one new module: no list to edit, which several people adding formats at
once would each have had to change.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
