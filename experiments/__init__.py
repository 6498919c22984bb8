"""absl binaries: flags -> config -> library call."""
