"""Track files in Cloudflare R2 (the S3 API, through boto3): keys, settings, transfers.

`R2.upload` sends a track once per content hash (HEAD first), large ones multipart with
their state in SQLite so a killed upload resumes; `R2.download` verifies the hash.
"""

from storage.r2.calls import R2Settings, check_key, hash_file, object_key
from storage.r2.transfer import R2, UploadResult

__all__ = ["R2", "R2Settings", "UploadResult", "check_key", "hash_file", "object_key"]
