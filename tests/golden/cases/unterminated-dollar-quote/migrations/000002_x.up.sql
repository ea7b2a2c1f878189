-- a function

CREATE TABLE t (a int);

CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
BEGIN
    RETURN 1;
END;
$$;
