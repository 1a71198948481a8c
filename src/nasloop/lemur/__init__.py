"""The LEMUR NN Dataset's layout in and out: `nn/<name>.py` model files and
`stat/<task>_<dataset>_<metric>_<name>/<epoch>.json` trial lists."""
