DROP TABLE record_key_claims;
