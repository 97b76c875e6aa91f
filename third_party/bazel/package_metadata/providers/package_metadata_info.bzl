"""Provider of the package_metadata stand-in."""

PackageMetadataInfo = provider(
    doc = "Package metadata: a JSON file with the package URL.",
    fields = {"metadata": "File (JSON with purl)", "purl": "string"},
)
