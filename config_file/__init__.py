"""Reading the site's TOML config: typed values with errors that name the key. Every package's
config parser stands on it; it knows no package's keys."""
