/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The programs' entry points, one per command of koverto.c's table
 * (notmuch's way: one file per command, none declared by hand). Each
 * takes its own argv (argv[0] is the command's name) and returns a
 * sysexits(3) status. */
#pragma once

int koverto_submit_main(int argc, char **argv);   /* submit.c */
int koverto_explain_main(int argc, char **argv);  /* explain.c */
int koverto_status_main(int argc, char **argv);   /* status.c */
int koverto_hash_password_main(int argc, char **argv);  /* hash-password.c */
