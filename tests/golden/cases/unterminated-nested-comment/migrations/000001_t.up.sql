/* outer
   /* inner */
   still a comment because comments nest
*
CREATE TABLE t (a int);
