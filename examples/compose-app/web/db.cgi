#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "db ($DB_HOST) started at: $(nc "$DB_HOST" 5432 </dev/null)"
