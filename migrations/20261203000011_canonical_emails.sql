-- Emails are now stored in canonical form: NFC, lower-cased (core/src/identity/email.rs).
-- Existing addresses are brought to that form where no other account already has it;
-- an address that would collide is left as it was, for an admin to resolve (sign-in
-- still finds it: lookups compare lower-cased forms).
DO $$
BEGIN
    IF current_setting('server_encoding') = 'UTF8' THEN
        UPDATE users u SET email = lower(normalize(u.email, NFC))
        WHERE u.email <> lower(normalize(u.email, NFC))
          AND NOT EXISTS (
              SELECT 1 FROM users o
              WHERE o.id <> u.id
                AND lower(normalize(o.email, NFC)) = lower(normalize(u.email, NFC)));
    ELSE
        UPDATE users u SET email = lower(u.email)
        WHERE u.email <> lower(u.email)
          AND NOT EXISTS (
              SELECT 1 FROM users o WHERE o.id <> u.id AND lower(o.email) = lower(u.email));
    END IF;
END
$$;
