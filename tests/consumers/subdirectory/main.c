/*
 * main.c -- the add_subdirectory() consumer of migc.
 * The program itself is common to every consumer: ../common.
 */
#include "consumer_migrations.h"

#ifndef CONSUMER_NAME
#define CONSUMER_NAME "subdirectory"
#endif
#define CHECK_TABLE "public.notes"

#include "../common/consumer_main.h"
