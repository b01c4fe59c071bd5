#!/bin/sh
# A CGI script for busybox httpd: answers with what it was asked.
body=$(head -c "${CONTENT_LENGTH:-0}")
echo "Content-Type: application/json"
echo
printf '{"method":"%s","query":"%s","body":%s}\n' "$REQUEST_METHOD" "$QUERY_STRING" "${body:-null}"
