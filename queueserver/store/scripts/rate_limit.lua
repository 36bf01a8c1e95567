-- standalone: runs before every request, so it carries no shared helpers.
-- with: _bucket

-- Take one request from a credential's token bucket, in one round trip (_bucket.lua).
-- KEYS[1] the credential's bucket (a hash: tokens, at_us)
-- ARGV[1] refill per second; ARGV[2] the bucket's size (the burst)
-- Answers {ok = 0} when the request may go on, else {ok = milliseconds until one token is back}.
return cjson.encode({ok = take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))})
