"""DICOMweb (PS3.18): STOW-RS, QIDO-RS and WADO-RS over the archive's index and storage."""
