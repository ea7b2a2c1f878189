-- A dollar-quoted body with a ';' inside: one statement.
CREATE FUNCTION books_trim_title() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.title := btrim(NEW.title);
    RETURN NEW;
END;
$$;
CREATE TRIGGER books_trim_title BEFORE INSERT OR UPDATE ON books
    FOR EACH ROW EXECUTE FUNCTION books_trim_title();
