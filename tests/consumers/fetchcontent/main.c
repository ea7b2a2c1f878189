/*
 * main.c -- the FetchContent consumer of migc.
 * The program itself is common to every consumer: ../common.
 */
#include "consumer_migrations.h"

#ifndef CONSUMER_NAME
#define CONSUMER_NAME "fetchcontent"
#endif
#define CHECK_TABLE "public.books"

#include "../common/consumer_main.h"
