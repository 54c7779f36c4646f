-- CreateTable
CREATE TABLE "Trial" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "firstName" TEXT NOT NULL DEFAULT '',
    "lastName" TEXT NOT NULL DEFAULT '',
    "company" TEXT NOT NULL DEFAULT '',
    "tokenHash" TEXT NOT NULL,
    "tokenExpiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "accountId" INTEGER,
    "trialEndsAt" TIMESTAMP(3),
    "convertedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Trial_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "App" (
    "id" SERIAL NOT NULL,
    "ownerAccountId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "ownerPermission" TEXT NOT NULL DEFAULT 'owner',
    "accessRevokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "App_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Trial_email_key" ON "Trial"("email");

-- CreateIndex
CREATE UNIQUE INDEX "Trial_tokenHash_key" ON "Trial"("tokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "Trial_accountId_key" ON "Trial"("accountId");

-- CreateIndex
CREATE UNIQUE INDEX "App_ownerAccountId_key" ON "App"("ownerAccountId");
