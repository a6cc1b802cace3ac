alter type storage.buckettype add value if not exists 'VECTOR';
